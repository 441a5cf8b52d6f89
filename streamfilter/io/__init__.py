"""Stream I/O: where frames come from (``source``), where they go (``sink``), audio passthrough
(``audio``) and how inputs and outputs are named (``locations``)."""
