"""annotate: gold entity/event training data from Arabic news, labelled in Label Studio."""

__version__ = "0.1.0"
