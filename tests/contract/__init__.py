"""One carrier contract suite, run over every registered carrier through a :class:`CarrierKit`."""
