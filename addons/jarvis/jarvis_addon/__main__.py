"""`python -m jarvis_addon`: see app.py for flags and exit codes."""

from __future__ import annotations

from .app import main

raise SystemExit(main())
