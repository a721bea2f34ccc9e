"""Render a results file: markdown, HTML, charts. Pure functions of ResultsFile."""
