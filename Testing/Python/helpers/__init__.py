"""Helpers shared by the test modules (no tests here): paths, reference data, synthetic inputs."""
