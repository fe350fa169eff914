#!/usr/bin/env bash
# pause.sh STOP|CONT: pause or resume every running reproduce cell (for a fresh-clone CI run)
pkill -$1 -f "python reproduce/" ; pkill -$1 -f "queue[DC].sh"; true
