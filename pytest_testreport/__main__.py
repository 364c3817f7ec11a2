"""``python -m pytest_testreport``: the ``pytest-testreport`` CLI."""

from .cli import main

raise SystemExit(main())
