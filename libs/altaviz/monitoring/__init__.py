"""Pipeline monitoring: the record shapes sent to Azure Monitor, and (later) the monitor and its sinks."""
