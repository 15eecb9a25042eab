package todo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestChangesLimit(t *testing.T) {
	tests := []struct {
		name         string
		since, floor int64
		limit        int
		want         int
		fields       []string
	}{
		{"zero is the default", 0, 0, 0, DefaultChangesLimit, nil},
		{"one", 5, 3, 1, 1, nil},
		{"the most", 5, 0, MaxChangesLimit, MaxChangesLimit, nil},
		{"above the most", 0, 0, MaxChangesLimit + 1, 0, []string{"limit"}},
		{"negative limit", 0, 0, -1, 0, []string{"limit"}},
		{"negative since", -1, 0, 10, 0, []string{"since"}},
		{"negative floor", 0, -1, 10, 0, []string{"floor"}},
		{"every problem", -1, -1, -1, 0, []string{"since", "floor", "limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChangesLimit(tt.since, tt.floor, tt.limit)
			if got != tt.want {
				t.Errorf("limit %d, want %d", got, tt.want)
			}
			if fs := fieldsOf(err); !reflect.DeepEqual(fs, tt.fields) {
				t.Errorf("error %v: fields %v, want %v", err, fs, tt.fields)
			}
		})
	}
}

func TestMergeChanges(t *testing.T) {
	tasks := func(seqs ...int64) []Task {
		out := []Task{}
		for _, s := range seqs {
			out = append(out, Task{ID: s * 10, Seq: s})
		}
		return out
	}
	gone := func(seqs ...int64) []Tombstone {
		out := []Tombstone{}
		for _, s := range seqs {
			out = append(out, Tombstone{ID: s * 10, Seq: s})
		}
		return out
	}
	tests := []struct {
		name  string
		tasks []Task
		gone  []Tombstone
		since int64
		limit int
		want  Changes
	}{
		{"empty keeps since", nil, nil, 7, 10,
			Changes{Tasks: tasks(), Deleted: gone(), Next: 7}},
		{"interleaved, all fit", tasks(1, 3, 4), gone(2, 5), 0, 10,
			Changes{Tasks: tasks(1, 3, 4), Deleted: gone(2, 5), Next: 5}},
		{"one beyond the page: has more", tasks(2, 3), gone(1), 0, 2,
			Changes{Tasks: tasks(2), Deleted: gone(1), Next: 2, HasMore: true}},
		{"exactly the limit: no more", tasks(4), gone(5), 3, 2,
			Changes{Tasks: tasks(4), Deleted: gone(5), Next: 5}},
		{"only tombstones", nil, gone(8, 9, 10), 7, 2,
			Changes{Tasks: tasks(), Deleted: gone(8, 9), Next: 9, HasMore: true}},
		{"only tasks", tasks(8, 9), nil, 7, 5,
			Changes{Tasks: tasks(8, 9), Deleted: gone(), Next: 9}},
		// Each side may bring limit+1 rows; the page keeps the lowest limit.
		{"both sides full", tasks(1, 2, 5), gone(3, 4, 6), 0, 2,
			Changes{Tasks: tasks(1, 2), Deleted: gone(), Next: 2, HasMore: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeChanges(tt.tasks, tt.gone, tt.since, tt.limit)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestTasksInOrder(t *testing.T) {
	found := []Task{{ID: 3, Title: "c"}, {ID: 1, Title: "a"}, {ID: 2, Title: "b"}}
	tests := []struct {
		name    string
		ids     []int64
		found   []Task
		want    []int64
		missing []int
	}{
		{"the order of ids", []int64{2, 3, 1}, found, []int64{2, 3, 1}, nil},
		{"a subset", []int64{3}, found, []int64{3}, nil},
		{"missing positions", []int64{9, 1, 8}, found, nil, []int{0, 2}},
		{"nothing found", []int64{1, 2}, nil, nil, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TasksInOrder(tt.ids, tt.found)
			var me *MissingTasksError
			switch {
			case tt.missing != nil:
				if !errors.As(err, &me) || !reflect.DeepEqual(me.Indexes, tt.missing) || got != nil {
					t.Fatalf("got %v, %v; want a *MissingTasksError with %v", got, err, tt.missing)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			default:
				var ids []int64
				for _, task := range got {
					ids = append(ids, task.ID)
				}
				if !reflect.DeepEqual(ids, tt.want) {
					t.Errorf("ids %v, want %v", ids, tt.want)
				}
			}
		})
	}
}

func TestIdempotencyValidate(t *testing.T) {
	render := func(Task) (SavedResponse, error) { return SavedResponse{}, nil }
	tests := []struct {
		name   string
		idem   Idempotency
		fields []string // nil and ok false: a plain error
		ok     bool
	}{
		{"valid", Idempotency{Key: "k", Render: render}, nil, true},
		{"longest key", Idempotency{Key: strings.Repeat("k", MaxIdempotencyKeyLen), Render: render}, nil, true},
		{"empty key", Idempotency{Render: render}, []string{"Idempotency-Key"}, false},
		{"key too long", Idempotency{Key: strings.Repeat("k", MaxIdempotencyKeyLen+1), Render: render}, []string{"Idempotency-Key"}, false},
		{"no render", Idempotency{Key: "k"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.idem.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if fs := fieldsOf(err); !reflect.DeepEqual(fs, tt.fields) {
				t.Errorf("error %v: fields %v, want %v", err, fs, tt.fields)
			}
		})
	}
}

func TestIdempotencyResponse(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		render  func(Task) (SavedResponse, error)
		want    SavedResponse
		wantErr error
	}{
		{"nil body becomes empty",
			func(Task) (SavedResponse, error) { return SavedResponse{Status: 201}, nil },
			SavedResponse{Status: 201, Body: []byte{}}, nil},
		{"body kept",
			func(t Task) (SavedResponse, error) { return SavedResponse{Status: 200, Body: []byte(t.Title)}, nil },
			SavedResponse{Status: 200, Body: []byte("x")}, nil},
		{"render error wrapped",
			func(Task) (SavedResponse, error) { return SavedResponse{Status: 500}, boom },
			SavedResponse{}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Idempotency{Key: "k", Render: tt.render}.Response(Task{Title: "x"})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
