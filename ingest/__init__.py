"""The ingest daemon and its workers: watching, settling, the pipeline, ffmpeg jobs."""
