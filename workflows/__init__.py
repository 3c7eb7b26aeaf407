"""workflows — execution: occurrences and their PDCA state machines (issue 4)."""
