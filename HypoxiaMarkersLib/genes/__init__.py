"""genes"""
