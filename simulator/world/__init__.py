"""Assembly: a world of parties, links and oracle on one virtual clock; running scenarios
against their expectations; the defect matrix."""
