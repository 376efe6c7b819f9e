"""One module per ``thinktwice`` command, each with NAME, HELP, add_arguments and run."""
