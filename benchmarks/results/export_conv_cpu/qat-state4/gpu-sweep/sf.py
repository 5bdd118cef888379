import sys
from spikefa.cli import main
sys.exit(main(sys.argv[1:]))
