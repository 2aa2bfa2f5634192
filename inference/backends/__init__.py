"""Model backends behind one interface (``Backend``), registered in ``inference.registry``."""
