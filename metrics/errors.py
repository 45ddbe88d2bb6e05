"""The error a metric raises when its input records cannot be scored."""


class MetricInputError(ValueError):
    """Records that lack what a metric needs (a set without samples, a missing field, arrays of
    the wrong shape). Its message is one line, fit to print as the run's error."""
