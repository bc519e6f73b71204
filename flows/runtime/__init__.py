"""What runs inside a flow run around the stages: the attempt's lifecycle, cancellation, stage
reporting, the retry policy.
"""
