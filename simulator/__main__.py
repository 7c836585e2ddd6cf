"""``python -m simulator``: the ``lendsim`` command."""

from simulator.faces.cli import main

main()
