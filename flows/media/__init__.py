"""FFmpeg and pictures: the process handling, the render, subtitles, captions, probing. No Prefect in here."""
