"""Command-line interface of robustpose-bench (`robustpose`)."""
