"""The web page's panels (Streamlit), imported by ``streamlit_app.py`` only: no other module of ``editor``, and
never ``tracking`` or ``inpaint``, imports them (the page sits above the packages, as the CLI does)."""
