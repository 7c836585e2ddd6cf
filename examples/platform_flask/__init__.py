"""An example platform service (Flask) to run under lendsim as a system under test."""
