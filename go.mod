module s4c

go 1.26.8
