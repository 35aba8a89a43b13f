module goverify

go 1.19
