"""What users touch: the ``lendsim`` command, reports, the pytest plugin and the contract
suite. The top layer."""
