"""Files a job leaves behind: publishing outputs, the manifest, and the cleanup sweep's rules."""
