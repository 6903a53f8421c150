module example.com/apply-go

go 1.19
