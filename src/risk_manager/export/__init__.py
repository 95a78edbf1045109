"""``risk-manager export`` (spec/daemon.md §12): the database's history as CSV, JSON or dispute reports.

``source`` opens the database read-only and applies the filters, ``formats`` writes CSV and JSON,
``report_data`` gathers one account's trading day, ``chart`` draws its timeline and ``html_report``
renders the self-contained HTML file; ``run`` ties them together for the command line.
"""
