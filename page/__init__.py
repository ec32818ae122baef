"""The web page's parts (Streamlit), imported by ``streamlit_app.py`` only: ``editor``, ``tracking`` and ``inpaint``
never import them (the UI sits above the packages, as the CLI does)."""
