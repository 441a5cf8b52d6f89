"""One module per CLI subcommand (see ``streamfilter.cli.SUBCOMMANDS``)."""
