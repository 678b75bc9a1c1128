"""Worker processes: the executor seam, job runner and synchronous engine calls."""
