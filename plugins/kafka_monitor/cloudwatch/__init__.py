"""The Amazon MSK CloudWatch dashboard: render, validate, sync; lag as custom metrics."""
