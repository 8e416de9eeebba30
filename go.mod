module github.com/bss-budget-operator/bss-budget-operator

go 1.26.0
