"""Reports built from a run or from the local history."""
