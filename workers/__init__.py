"""Background jobs: compaction now; dispatch escalation, duty rotation,
the alert monitor and statistics as their issues land."""
