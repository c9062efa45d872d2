"""``python -m app.soak``: the soak test (its code is in ``app/ui/soak.py``, since it runs the Qt workers)."""

import sys

from app.ui.soak import main

if __name__ == "__main__":
    sys.exit(main())
