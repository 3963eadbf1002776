"""The application's workflows, called alike by every edge (HTTP API, console, CLI): the tax
bureau's daily-file import, the target-table import, the demo, and the person page's answer."""
