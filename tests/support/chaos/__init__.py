"""The chaos harness: a three-broker cluster, the API and workers as real processes, load
through the HTTP API, a schedule of faults, and a verdict on every request.

- ``plan``: the requests to send (and the poison to write straight to the topic);
- ``ledger``: what each request's answer says of its events (acked, rejected, indeterminate);
- ``load``: the paced HTTP load, classing every attempt;
- ``stack``: the processes, each of which a fault may kill and start again;
- ``faults``: the schedule of faults, fired at points of progress;
- ``verdict``: what the store, the topics and the mail server hold, against the ledger;
- ``timeline``: progress over time with the faults marked, drawn as a PNG.
"""
