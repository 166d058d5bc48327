"""Voice: spoken yes/no answers to the safety gate's questions (Assist pipelines are HA's own)."""
