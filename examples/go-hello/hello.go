// Package hello is a Go function: a handler of the shape
// func(ctx context.Context, event E) (R, error), with E and R any JSON types.
package hello

import (
	"context"
	"time"

	"github.com/dustin/go-humanize"
)

var startedAt = time.Now()

// Request is the event: a CloudEvent's data, or the JSON body (or the query) of a request.
type Request struct {
	Name string `json:"name"`
}

// Response is answered as JSON.
type Response struct {
	Message string `json:"message"`
	Started string `json:"started"`
}

func Handle(ctx context.Context, req Request) (Response, error) {
	if req.Name == "" {
		req.Name = "world"
	}
	return Response{Message: "Hello, " + req.Name + "!", Started: humanize.Time(startedAt)}, nil
}
