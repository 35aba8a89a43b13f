module goverify

go 1.23
