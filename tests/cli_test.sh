exit 1 # placeholder: being written
