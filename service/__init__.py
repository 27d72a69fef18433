"""The labs' door: an upload page and API that give an instant, plain-language verdict on a plate export
and hand accepted files to the ingestion flow (see README "Upload service (lab staff)")."""
