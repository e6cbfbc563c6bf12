module github.com/leakhound/leakhound/integrations/go/healthmon

go 1.19
