package sqlite

// Subscribe returns a channel signalled after each committed write to
// userID's tasks through this Store (see todo.ChangeNotifier).
func (s *Store) Subscribe(userID string) (<-chan struct{}, func()) {
	return s.hub.Subscribe(userID)
}
