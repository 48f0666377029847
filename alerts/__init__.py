"""hlog alerts: rules on a query, their evaluator and notifiers (see the alerts issue)."""
