// Placeholder: the incremental HTTP/1.1 request parser lands here.
