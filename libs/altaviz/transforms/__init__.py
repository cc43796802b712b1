"""Pure DataFrame -> DataFrame transforms used by the stages; no reads or writes here."""
