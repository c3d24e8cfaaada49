"""CloudWatch on the local stack: metrics from what happened, alarms evaluated as CloudWatch evaluates them."""
