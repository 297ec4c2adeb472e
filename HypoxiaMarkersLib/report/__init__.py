"""The cohort report of a batch folder: an HTML page with figures and tables, a PDF, ``report.json``.

- :mod:`.page`: :func:`~.page.write_report` and the page's building blocks (sections, tables, figures, HTML);
- :mod:`.context`, :mod:`.sections`, :mod:`.survival_section`: what each section shows, read from the results;
- :mod:`.formats`: how numbers are printed; :mod:`.pdf`: ``report.pdf``;
- :mod:`.figures`, :mod:`.km_figure`, :mod:`.clustering_figure`: the matplotlib figures;
- :mod:`.batch_folder`: reading a batch output folder (every part optional).

May import: the science packages (``stats``, ``heterogeneity``, ``io``), the base modules and matplotlib; nothing
imports ``report`` but ``pipeline``, ``cli`` and ``slicer``.
"""
