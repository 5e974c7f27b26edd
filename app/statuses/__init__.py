"""Status messages: recipients' progress reports and senders' recalls, recorded and routed back."""
